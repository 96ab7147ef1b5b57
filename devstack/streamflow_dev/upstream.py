"""Every third-party file the setup and the tests need, pinned by sha256, and where to get it.

:data:`TABLE` is the one list: the upstream CRDs (Flink operator, Strimzi, CloudNativePG, Prometheus
Operator) and the handbook dataset. :class:`Resolver` looks for each entry, in order, in

1. the cache (``<cache_dir()>/upstream/<path>``), whose copy is checked again on every use; a corrupt one is
   discarded with a message and resolved again;
2. the offline mirror (``<shared_dir()>/<path>``: ``$STREAMFLOW_SHARED_DIR``, else ``../shared`` beside the
   checkout), copied into the cache once it matched;
3. upstream: the pinned URLs under :data:`UPSTREAM_BASE_URL` (HTTPS with a timeout and retries), downloaded
   to a temporary file and renamed into the cache only once the digest matched.

A digest mismatch is refused whatever the source: the file is neither used nor cached, and the error names
the file, both digests and the source. When no source can provide a file, the error names each source
tried (the mirror path, the URL and its network error). A ``Resolver`` takes its table, cache, mirror, base
URL and TLS context as arguments, so another mirror of the upstream files (or a test server) is one
argument away: ``Resolver(base_url="https://mirror.example/raw")`` fetches ``<base_url>/<source>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import handbook
from .paths import cache_dir, shared_dir
from .procs import ComponentError

__all__ = [
    "CRD_NAMES",
    "TABLE",
    "UPSTREAM_BASE_URL",
    "Assembly",
    "Part",
    "Pinned",
    "Resolver",
    "UpstreamError",
    "file_sha256",
    "resolve",
]

#: Where every pinned source lives; a :class:`Resolver` may be given another base (a mirror, a test server).
UPSTREAM_BASE_URL = "https://raw.githubusercontent.com"
_CHUNK = 1 << 16


class UpstreamError(ComponentError):
    """A pinned file could not be provided: refused (digest mismatch) or unreachable from every source."""

    def __init__(self, problem: str) -> None:
        super().__init__("upstream", problem)


@dataclass(frozen=True)
class Part:
    """One file as published upstream: its path under the base URL and its pinned sha256."""

    source: str
    sha256: str


@dataclass(frozen=True)
class Assembly:
    """How several upstream parts become the entry's file, and the digest that checks the result.

    ``digest`` is computed over the content (the file's bytes may differ from the mirror's, e.g. parquet
    written by another library version); ``sha256`` is its pinned value.
    """

    build: Callable[[Sequence[Path], Path], None]
    digest: Callable[[Path], str]
    sha256: str
    what: str


@dataclass(frozen=True)
class Pinned:
    """A file the setup or the tests need: ``path`` is the same under the mirror and the cache.

    ``sha256`` is the digest of the published file (the mirror's copy); with one part and no assembly the
    upstream file is that file, else ``assembly`` builds it from the parts.
    """

    path: str
    sha256: str
    parts: tuple[Part, ...]
    assembly: Assembly | None = None
    licence: str = ""

    def __post_init__(self) -> None:
        if not self.parts or (len(self.parts) > 1 and self.assembly is None):
            raise ValueError(f"{self.path}: one part, or several parts and an assembly")


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _crd(path: str, source: str, sha256: str) -> Pinned:
    return Pinned(f"crds/{path}", sha256, (Part(source, sha256),))


_FLINK = "apache/flink-kubernetes-operator/release-1.15.0/helm/flink-kubernetes-operator/crds"
_CNPG = "cloudnative-pg/cloudnative-pg/v1.30.0/config/crd/bases"
_PROM = "prometheus-operator/prometheus-operator/v0.93.0/example/prometheus-operator-crd"
_HANDBOOK_REPO = "Fraud-Detection-Handbook/simulated-data-raw/6e67dbd0a3bfe0d7ec33abc4bce5f37cd4ff0d6a"


# sha256 of each daily file of Fraud-Detection-Handbook/simulated-data-raw at that commit, computed from the
# git objects of the commit (data/<day>.pkl); the days 2018-04-01 to 2018-08-31 make up the dataset.
_HANDBOOK_DAYS = """
2018-04-01 6bb3398e858be68532e22522ed8dd52601fe507b6537f6bc2dde0abcdd3e4717
2018-04-02 69266b74f810840c6a7649a2bd35ef08b5bce0501919fe1f8a05810a173790c8
2018-04-03 1c4d08a002b61ada9529c5fe6bf2a493f29c902b70fa9f59fb70b5eccef23ae8
2018-04-04 03f1f3f3cf2ba96ecdd6df95194c1446ca5add2b0213f5acbe183427cd455ba3
2018-04-05 7dee3a41bd5b2fe2590c7d83c528f556dc79286e54d623dc0ab1577e2274f647
2018-04-06 1aba6f2aedc9fd1988cb6b832bf01b40c3930b5a6761b5aa82cfd95b5860da4f
2018-04-07 396901e31f1037f4472899559bb4a4d6039dba321b682f7d26206478c3809dd9
2018-04-08 a589e0c224b9cefc99336341567d84e68a85c41c7108e4fded51a5c3de32f049
2018-04-09 05f044777611714ce1b7b2245712e54fb7b155f03e2503d686b487060d1e9063
2018-04-10 985e93b53ab12a924ff74c99e5ff9a4fdad716299cc05baf9edc62717a2d89d8
2018-04-11 fd07e14b8005ee651f4846ff0d2ab4ecff7d1b68bc367d5e855d24d37e1bc022
2018-04-12 ea9a0d2253d2ef34be994bc2ff5126fd98bfea9a0810a1cd70cd5e6d069cb55e
2018-04-13 6775ba253ad7602d7cb5a2eaf358c39351fe4022311dade4dadbf932f6db6cb7
2018-04-14 a7c4f570be3e485b757b6eb5e04cf21f239a57289269f27f49a03e8387be2044
2018-04-15 9562e021001ba0adbc7346872a6eb8119f88e6b15088c98d16d0194a9f44792e
2018-04-16 8d42941cd7e1fc8ea1c81ddd68259ca0dde38754c70516ca5bb6d5142e42e068
2018-04-17 aaac96c9938195fbaddb2a3f40ec9e83a060554ea549c21be91aa5fc24e83d7b
2018-04-18 dccfabca4c3fbbd6a2142b02e94d5551bb54070d0525152840d760129692b745
2018-04-19 8080a07ac1694a726dbebf21d2d847046e53ceb1a2dd03a1a0450a93f1ef6edb
2018-04-20 fb8658f89edf3c8dcca4326da4f9196bf9c41d40e6311076b6bf143ec39bc75b
2018-04-21 e12c7c65b0f838762a4ab99900447992cb6f04c3d81a959833c344ca7f55ed02
2018-04-22 56008737b5acada58d598f458fedf0c03652e6b9829ecc69f3e459872b71b30f
2018-04-23 48f65c62174eb75a291b4b0cee28e98a6c22dc228242207766c3bebbb33b66db
2018-04-24 6ee0691d43914334119401becdbf5b8b24a34fa117d83727958716b288b01c77
2018-04-25 25fe5846f1a34c6433a064c0cac9515433012b21d3fe3b54442b74481279f07d
2018-04-26 db612645d1fdf2b7456c759c9c3b1f5db8cf64c5acdd736c560ec1f6907db1f8
2018-04-27 c70254f03bc10d8da37f500f99d6abeba75b2ea92c62f8f0545b2360d28cf617
2018-04-28 2ce3591a66df34b8852c1cdb2ec200f4569e7489ea31c481e71e7cf120f23dab
2018-04-29 7aa5d6cc838b4c1610303d3dffe2aca91221a272ac7d9e7827ab50d8f9b233a7
2018-04-30 50e35c707ea8c47731f78e1d4a12c15ea4c283f66858645cd43a842b870a664b
2018-05-01 f7173ee8aa505af434306e3d09b302d201be746d5d2802672a69b0695d5d57fd
2018-05-02 4c7a13dd6db176d270bf21896c33f330151ac0c305092ed5881c53f4e1eddf7b
2018-05-03 6222a4d45742c1c1556a5c9dcaa32944ca811803e9670f368516a83d884f5af7
2018-05-04 7ad653e5c7a28be59575601c265a5b1fa55cbc014e4d02084af14e15d0ea2954
2018-05-05 0c6bf47415fa5285164a09379d20b5bc8b85af40a60a797e24534b50b590a635
2018-05-06 f382545256fe1c69a6194a33bf8551ddcd149c15d2ccff5d73207e4afe45c3f3
2018-05-07 e1e8d6a8195d85426968058fb63500b9a6d84deee8628a68d422bf95ee04237a
2018-05-08 3bb683a5dfc604d567ae557b185fa1c53fabe6fca50ddae4ec4c05f9f673535b
2018-05-09 e102739f36bd0784540b750e41d24c4126d61a2721ee2ae13b612d2ac0b8e2e3
2018-05-10 6f2516f5af21223c1559a3f733ac0d0594722cfbe8e214750f58dae9467f61c9
2018-05-11 2ab79873c43ee9cd43a6993e2edcccec600d99cb1579955d8d199e3ede1d55e1
2018-05-12 3c2fb262b7592837e8c923b71973940ddf01a493a3235d3044b1b6c6fe95b52d
2018-05-13 9052376e9f1a2b9dd753b3cdb02ddfdee347a4de17d0023556056906094bf614
2018-05-14 3f7d54de48e15d0720df13d0a099faa503be8437a19d20340352554d16f088f0
2018-05-15 2fbd8785ea3f7f072f3e4cc87f44abf7f36316720d2ace183edd26102551e082
2018-05-16 6be06bed1958a5fceaa8c4fa441f48b84c3415c4a35c7e467d01272d5f8b3983
2018-05-17 818c166b2fd08e02eb8283feaef41925a7bf86cf41f47a1b27c547916394e2f9
2018-05-18 fa1fbc257884b1c63d7e11f2d10838c030784c04b31fdef04fe7a604721c82bf
2018-05-19 1a2ba2319708110c11328060945eedaf1b29d5d93358d5ef1a4dd14c2f78ea05
2018-05-20 787269c96fdd81e3467900104c9ba75550b71a520219c8248daacf430ce8fcb6
2018-05-21 2431571cfb439a1fdc2c0cc2bf5f5af58cd2948b13f85046dfbf3ab76a96391e
2018-05-22 56661dbdcdf152a934f66a4b382bf6cd3970b5ec40dd10db7fc0c4bb64909af6
2018-05-23 92c366470dd48f2dd2841b8843b996d68d89724f7d955aa700d269a7bf2667fa
2018-05-24 487e92cb21d2e22b8448b3dc8499c6eec46d9e10d0a9e2fe18bad427f0766fc5
2018-05-25 3bfd4560ba7d1f150b7f8cbaa126e2018ab7216e352fff879295e92135074392
2018-05-26 d276d4ceb244ed47150f9e8b9e2a42609f6006b345aad93dd0c74427689e8046
2018-05-27 c58460ba10daf45bd1319fd63d02593b86afb4be48de8bc27e887b34d9697932
2018-05-28 5d7c0ed2dc24873fb2955f48b62c67ecbbf96cd9be827128f8084973b9601959
2018-05-29 310a7f8a471f759efc47b2b001628197e27fc10f9119c3cf0a243c32004ce84b
2018-05-30 831d0dbfe5cb8832346fcc4c0368b87d83ad6968999ec6f4746003a33bf789f1
2018-05-31 12ef99a8e78ad98be60efa996777e5d6e1e7de963401210e852633f336f45c14
2018-06-01 ce8af782d1d0a031db59b1e8066197cc8551cbd4f93705d5b11334106d924826
2018-06-02 bdebcc40a8c478bdacf77919a60e64ae26fce434dd67580ca6279c68f7537443
2018-06-03 e54d7a9140e8e0931f4234b0309cec1deeff175e043dd5b7842f331bc094574e
2018-06-04 c5f666165c8a97d341e4af960d787a0c708211e1c38e957427eaacf1c8dfce9b
2018-06-05 b20748c891d614767ff2a7153109303cbbe1bb7a1ca0e1d3706c69afb49dc8bf
2018-06-06 5eb92b974325452591ba641a5cb37110b07b2c01dc7c3afaac8ab4f45a0017ed
2018-06-07 6100e3dc1b2e5e3dd031c2c8c5127378ce15b36b0a8870a961b7b983630c6389
2018-06-08 7c39ff081f835738c725cd4fb1186f810487de31f431af6bbdfeaab82692511e
2018-06-09 ee13cb03b32062a55673ec505c2353716fdf8222005fc5fa1db97b7b1b2055d1
2018-06-10 45e6d22dbe3a58b67976a4b85d210d3f7ef029eb3e3ddf253db2600857d67a37
2018-06-11 21bd5a57bad9d758a880aeadb119b09f1d796a650c25d6cdd11195476e459ec7
2018-06-12 151c8686394e8ab29f3cdbcde8c50c9b08a6e1d91ca8b47e2c80ff93dfe97caf
2018-06-13 c6c25d07048231dd2068d554528e335ed2f09b2e341ebdf1463e681d71f67f9b
2018-06-14 db7474c5528107e960edb5b7e63f7093651c604e66a71abd6a399d708b81874a
2018-06-15 b0eeca84c495cff7d1057da50a91604b8f8e0eee013066e9ee5e7ad48b0c932b
2018-06-16 0b52ff9f3af0e8d1b3586cdcccb199a0227ca2e78882262178c62abf004f1eea
2018-06-17 50e71b0c616c7672a85b8bee0e78a2cfbba0a1f743fcb63ef1682c1cded1f919
2018-06-18 a89499c0a9653125e037e25c4ae6368272fd8218dcf61e930cefbb5dc6424f91
2018-06-19 8d4cc660ab4ae195aafe9abe88a65405930e41c1bacdb6ec11ebff24e995366e
2018-06-20 407881ba39a1167998aabeabd100da757dd2592809d9e512bebf6bbfd737a332
2018-06-21 a6155129dd4740391551a034406116aec78c601fef0f204502289d61e6235599
2018-06-22 47aa38ec09926601f0bd80486acba6df98603f80831d83154a415eaea3c4cf92
2018-06-23 6c2f51373cf45bac38cc1da6f3afc16b0a633a5c8a8e17b7799cdcae20bbe344
2018-06-24 2159503348895f3d9294547fa65b0f5fca19f9bdb2ec4b10e331fa89993dbc49
2018-06-25 ca2c8d4e1751705fda0edc82e4c12ff65ea1f0650193aa00f516b2d020f32329
2018-06-26 e91792221ffa2501a24198353af1078a0d8d092649026e4d1537b24824c39f1f
2018-06-27 ee89fa00e440114fadaec2e0846559ab753c0f28a3f3c45314ff7d861c51b03d
2018-06-28 24cdb8895d0c9f918f7d2f24fba5ee8f4c12a1bda2b61811357daeb78f400d13
2018-06-29 c4141abd5dc12e25b2c631ba04170c49adcc6ab9c3170d98b4637d7be602baac
2018-06-30 e964e7f5879ede5ddc5dcadbba06ffde8ccfc7ab320b696af9b3674d1d3f082f
2018-07-01 568604a89fb2392013e02163710d8f333b5a8a41f2f9b8ef1839715aeab45239
2018-07-02 776bfa2e273442df983047e9be7066e539588d80304c771e2bc01b9bff18481a
2018-07-03 0ca6db224d90f8f011260c1687fbd8ae79cebef07aae3fded66349892073e4b2
2018-07-04 3bc2c083b2ec1aeba8ea477709c76b96e334113e4510c7c3e8f55cae94e82fa4
2018-07-05 2219ad41803494bb0cd6cdb8f8d2ac9fdbdf06fbcc63863ac22aed5c9899923f
2018-07-06 b260ef1999f8c82b964d71374af1ed9241c62376e21444910a7b27089bbcd99a
2018-07-07 f10276a4aac4018e6c4e42cca0545fdd4aee16e3a418ad1872a19829705729e1
2018-07-08 f78573f481832095d8928e5e94e0739ea75a7d66b2e214fd3ea15b5fa24bb6ce
2018-07-09 ca54a6c703cd5a9ab2815b5491d93f7335ae6cec0c9f888619533e873144c713
2018-07-10 fbe0c4c4e8243dc08065ccef3cf87dd9a26da54f9b0a369c415ef263dc8a045b
2018-07-11 8b18a7461ed0016e5e642b3adda8a66a96a507a01866c1ba4d6abcdd90fbc600
2018-07-12 9f0ba4f9afa7ec4f91814533f5901fbc349a6699300a3879591e8735455dc0a3
2018-07-13 31106772188ea3e57830e31350e7fac792f18fd37b544a1730966f53cf2732e0
2018-07-14 c56b05a6bcd3df0dc1715dbab196372e38e71dfb0902db3737ec9106f3bceb10
2018-07-15 0cb9bdba43e50382427f4ac6cd285a748906a0247bc9d0352918d35218261095
2018-07-16 6eead27c4faef8918e95520ecac3b4c2e6a450634271431fe15f69984d1652a7
2018-07-17 886dba04e691a87e1d8eec36e2e481a88362d3f99a1eb01fc4852152c81c4e5c
2018-07-18 fbe1d561b314783361d2bc305c848ea12a230d3d3d8d06d6582253298d08c32d
2018-07-19 b01b8d47837defe21c083e459e0c16235ed40360e3ea7c5bc7ba59080d0358b1
2018-07-20 75e5fb866d92f9a84a8b5f99d6727c3862c517ace37ef240c78700a388158f5c
2018-07-21 42289bfe3f880e79ad1b698ad52e07222cca562a8b1b5321c6ecd5e22c516ff8
2018-07-22 72b94dd723c1dd776bf597e89d2f8f607eb2e51f60036a43f61d1289d6c962a6
2018-07-23 5a641ce71810385708b58027b334f87a51bf66277704a98ec81fcfee4c2e443c
2018-07-24 59083637dceef57c294207669b7e59888b88f1462078f86cbebe89afe715a2b8
2018-07-25 3102ff064dfa955f0e5b51be48a3cfb4a67cb09952d7bfa326de76ffa23d1e3f
2018-07-26 a8def38ff13d120e89b118e6778be325b5b85cb891dea9fd488658569ce02e1e
2018-07-27 694031a2fa3db000d730ce23c6bce17a783f496bb0a8d6fb8c7ed4c0bd7fcbc7
2018-07-28 baa77ef237b810d843b7c19e076d34ae83f42f16b19703b39674102ebd29d33a
2018-07-29 0114b79903fa59c07ba97becda80d9d9679e57adeb7cbd349b4f1b829454385e
2018-07-30 15d530b1d45f93d2651c154f51307c9608148dd5ddd898e48e8c7b88f5f8511a
2018-07-31 a567e0616dfd580e8fbe234f74a4a768bacecb8c44a4363c90ba24a98f4293bb
2018-08-01 bb2da318842f6385903da969e43d5a943f01361d5b48e0d4d4cfb9e4c2e9b44a
2018-08-02 aea8bbcc7e3f35c8df31499473b034a5858d7ff5f4f59aaa0c237c49cc05becc
2018-08-03 44112cfb7089d25c0932313e251894a57f0264c04033a674e11c893035681cf8
2018-08-04 17caccb922da2ff363499a701da0a2905023679fc03fe518571da9a35a6fe5d5
2018-08-05 372b5a109748f2b9851483b272f3716cab332823f994200f86ddbd8c7cd1b6a8
2018-08-06 603b1dee00aee70b9259effbe743b5bfa8edc936f176389bf3325eff62fa1b7a
2018-08-07 f568ce517ae2cc3e1d5d16513541acbcf3c7afacb9248d8ba724257d762e53e0
2018-08-08 a4f4bd85bf5cbf675d992e6bedb985919b41e0a6372b8a0933b81d26d33e2163
2018-08-09 5aa75ccbf357ef97e393aec3afc5c5146c6a7da21cf482e2ba9e01dde1cbba0e
2018-08-10 503df3e0842b16c615379c5f61744c3b28762914eab545821646fc77a9730a61
2018-08-11 7121ca84480ed292103b0461f250cb511632e93e92b0312300d76ea02f0e627b
2018-08-12 107e55afc405ee67bfd444c919bbf8f8149e4c465ac95ca2fa51d3dbcf3fa362
2018-08-13 55c2637325882bcd4a1a62549c6cc75031d5f59726cc6584eb426c02bbf561df
2018-08-14 dea3f3e44e0d48954cc58175ed0b5e78740142306cc662425b2bc0ecc450d4ed
2018-08-15 da6f77787fce9afcf3484b3b8d50a63a590987c0c5b484c099904dd537bfb79a
2018-08-16 920a8a23cc7dc6f18a48593356b9cec94fc629b71c9140fb14f3234a8a4b97c5
2018-08-17 8d3820d32e8e1c53d1ebe865b331f8b28c8203a0900b578793dffc6e599aae7c
2018-08-18 88367285c25491aca472f2d49d1578ae16dcfb60e88143e5e679f92417f323f2
2018-08-19 2a3e87ecbd68b083463b46e1e19a8d4ea0f472c90026ba1600aa949fdd494c04
2018-08-20 3737f705deae68f65a27856766aef4b37aafd62a06a5e45fb6d79e446d214742
2018-08-21 8f83453e45f71366f35ace824ab8823977055965349fae9225b1b02a141f3953
2018-08-22 271f0d1c9a989c16cbe6a13e686f3f2004c329d4adf333db54af799f312f105c
2018-08-23 19ed2cdf9bdffa5e999b17b1b92aaba93b155a2341f24533fbf57c086d413b28
2018-08-24 8b62a214df082e22677e444de708100bf3537e4609343c67f8813ec7663c0848
2018-08-25 af92958e2b66596120d0bd2ac2837bd1d2ae694fa4f20d3bbf561ae593d278fa
2018-08-26 927adc893b34290e42427d42518d97e99da23a4f20e6c997da89f5c5bec36dd4
2018-08-27 54e202fc1c30d62453ef3a086ab65380d13b46b5205bf0038d2c407cdd7d54a5
2018-08-28 ccd1551f5bd93ce89281edcb23883924b19c50c42b597f9192331d724f4f4f32
2018-08-29 c0c03f11274e7d3e3aa951a3d356a78bdbf5d4c1c3c48d104b02509a7c9ed060
2018-08-30 54764232750888b4e576e19396cab2f2f32bfce022778528c1fb93ba51540396
2018-08-31 7c2652649ec36a4ce1cd6a5645f2b146ff795a2456166978c17ac6101fe52ecd
"""


def _handbook() -> Pinned:
    days = [line.split() for line in _HANDBOOK_DAYS.split("\n") if line.strip()]
    return Pinned(
        "datasets/handbook/transactions_2018-04_to_2018-08.parquet",
        "1e3facc53e06465d8a5fe79924072cd416c46e371d05c7d72f9b0b181a46e0ab",
        tuple(Part(f"{_HANDBOOK_REPO}/data/{day}.pkl", sha256) for day, sha256 in days),
        Assembly(
            handbook.assemble,
            handbook.table_sha256,
            "7ac82fdcf1eddb81fb5a50a0636d757b8b3db6796fd6834eed782e95aaa38689",
            "the daily files concatenated (digest over the table's values, streamflow_dev.handbook)",
        ),
        licence="no licence file upstream: test and evaluation input only, never copied into the project",
    )


#: Every third-party input, by the name ``streamflow dev fetch NAME`` takes.
TABLE: Mapping[str, Pinned] = {
    "flinkdeployments": _crd(
        "flinkdeployments.flink.apache.org-v1.yml",
        f"{_FLINK}/flinkdeployments.flink.apache.org-v1.yml",
        "7977265fc26d5e13e46ea5a18b18ce71dc1b93a7c750d781843a7af0d1d13e47",
    ),
    # Strimzi 1.2.0 serves KafkaTopic as kafka.strimzi.io/v1 only (the same file as main of 2026-08-22).
    "kafkatopics": _crd(
        "kafkatopics.kafka.strimzi.io.yaml",
        "strimzi/strimzi-kafka-operator/1.2.0/packaging/install/cluster-operator/043-Crd-kafkatopic.yaml",
        "36390f0731c699448076d4ee739e8b7f331d083e91a7fb71500aaa830ab1127e",
    ),
    "cnpg-clusters": _crd(
        "postgresql.cnpg.io_clusters.yaml",
        f"{_CNPG}/postgresql.cnpg.io_clusters.yaml",
        "ae47f4a00f6e998faef57e480f9a3960cd48ea16a79270861fc7442601507472",
    ),
    "cnpg-databases": _crd(
        "postgresql.cnpg.io_databases.yaml",
        f"{_CNPG}/postgresql.cnpg.io_databases.yaml",
        "53f7dfca6d23eb70246f41f1e7db596f8782341cd4fffb6ad990107cc8a588e7",
    ),
    "podmonitors": _crd(
        "monitoring.coreos.com_podmonitors.yaml",
        f"{_PROM}/monitoring.coreos.com_podmonitors.yaml",
        "45a93443daa687d3654f7e9631909ff7edcdf3ec09c5e60251b74aa2722aee5d",
    ),
    "servicemonitors": _crd(
        "monitoring.coreos.com_servicemonitors.yaml",
        f"{_PROM}/monitoring.coreos.com_servicemonitors.yaml",
        "a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32",
    ),
    "prometheusrules": _crd(
        "monitoring.coreos.com_prometheusrules.yaml",
        f"{_PROM}/monitoring.coreos.com_prometheusrules.yaml",
        "78be98554b9c8506ab2b4f4feb91c5f3a56e536a0a510f3a8e876a459970d56d",
    ),
    "handbook": _handbook(),
}


#: The upstream CRDs, in the order they are installed.
CRD_NAMES = tuple(name for name, entry in TABLE.items() if entry.path.startswith("crds/"))


class _Refused(Exception):
    """A digest mismatch: final, never retried from another source."""


class _Unreachable(Exception):
    """A source that could not be read (missing, network error, HTTP error)."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Resolver:
    """Resolves :data:`TABLE` entries to verified files in the cache (see the module docstring)."""

    table: Mapping[str, Pinned] = field(default_factory=lambda: TABLE)
    cache: Path | None = None
    mirror: Path | None = None
    base_url: str = UPSTREAM_BASE_URL
    ssl_context: ssl.SSLContext | None = None
    timeout: float = 30.0
    retries: int = 2
    retry_delay: float = 2.0
    log: Callable[[str], None] = _stderr

    def __post_init__(self) -> None:
        self.cache = self.cache if self.cache is not None else cache_dir() / "upstream"
        self.mirror = self.mirror if self.mirror is not None else shared_dir()

    def url(self, part: Part) -> str:
        return f"{self.base_url.rstrip('/')}/{part.source}"

    def resolve_all(self, names: Iterable[str] | None = None) -> dict[str, Path]:
        """Resolve each name (default: the whole table), in order."""
        return {name: self.resolve(name) for name in (self.table if names is None else names)}

    def resolve(self, name: str) -> Path:
        """The verified file of ``name`` in the cache, from the cache, the mirror or upstream."""
        entry = self.table.get(name)
        if entry is None:
            raise UpstreamError(f"no pinned file named {name!r}; known: {', '.join(self.table)}")
        assert self.cache is not None and self.mirror is not None
        cached = self.cache / entry.path
        if cached.is_file():
            actual = self._check(entry, cached)
            if actual is None:
                return cached
            self.log(
                f"{entry.path}: the cached copy {cached} is corrupt (sha256 {actual}, expected "
                f"{entry.sha256}): discarded, resolving it again"
            )
            cached.unlink()
        tried: list[str] = []
        mirrored = self.mirror / entry.path
        if mirrored.is_file():
            actual = self._check(entry, mirrored)
            if actual is None:
                self._install(cached, lambda tmp: shutil.copyfile(mirrored, tmp))
                return cached
            refusal = f"{mirrored}: sha256 {actual}, expected {entry.sha256}: refused, not used"
            self.log(f"{entry.path}: the offline mirror's copy is wrong: {refusal}")
            tried.append(f"offline mirror {refusal}")
        else:
            tried.append(f"offline mirror {mirrored}: no such file")
        try:
            self._download(entry, cached)
            return cached
        except _Refused as exc:
            raise UpstreamError(f"{entry.path}: checksum mismatch, refused (nothing cached): {exc}") from None
        except _Unreachable as exc:
            tried.append(f"upstream {exc}")
        raise UpstreamError(
            f"{entry.path}: no source could provide it:\n  - "
            + "\n  - ".join(tried)
            + f"\n  Put a copy with sha256 {entry.sha256} at {mirrored} (STREAMFLOW_SHARED_DIR chooses the"
            " mirror directory) or allow HTTPS to the upstream URL."
        )

    def _check(self, entry: Pinned, path: Path) -> str | None:
        """None when ``path`` holds the entry's content, else the digest found."""
        actual = file_sha256(path)
        if actual == entry.sha256 or entry.assembly is None:
            return None if actual == entry.sha256 else actual
        try:
            content = entry.assembly.digest(path)
        except Exception as exc:  # an unreadable file is a corrupt one, whatever the reader raised
            return f"{actual} (unreadable: {exc})"
        return None if content == entry.assembly.sha256 else f"{actual} (content {content})"

    def _install(self, dest: Path, write: Callable[[Path], object]) -> None:
        """Write through a temporary file beside ``dest`` and rename it into place (never half a file)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            write(tmp)
            tmp.chmod(0o644)
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)

    def _download(self, entry: Pinned, dest: Path) -> None:
        if entry.assembly is None:
            (part,) = entry.parts
            self.log(f"{entry.path}: downloading {self.url(part)}")
            self._install(dest, lambda tmp: self._fetch_verified(part, tmp, entry.path))
            return
        assembly = entry.assembly
        assert self.cache is not None
        self.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="upstream-", dir=self.cache) as work:
            self.log(f"{entry.path}: downloading its {len(entry.parts)} upstream parts ({assembly.what})")
            files = []
            for index, part in enumerate(entry.parts, 1):
                files.append(Path(work) / f"{index:05d}-{Path(part.source).name}")
                self._fetch_verified(part, files[-1], entry.path)
                if index % 25 == 0 or index == len(entry.parts):
                    self.log(f"{entry.path}: {index}/{len(entry.parts)} parts verified")

            def build(tmp: Path) -> None:
                assembly.build(files, tmp)
                content = assembly.digest(tmp)
                if content != assembly.sha256:
                    raise _Refused(
                        f"{entry.path} assembled from {self.base_url}: content digest {content}, expected "
                        f"{assembly.sha256}"
                    )

            self._install(dest, build)

    def _fetch_verified(self, part: Part, dest: Path, what: str) -> None:
        url = self.url(part)
        actual = self._fetch(url, dest)
        if actual != part.sha256:
            dest.unlink(missing_ok=True)
            raise _Refused(f"{what}: {url} has sha256 {actual}, expected {part.sha256}")

    def _fetch(self, url: str, dest: Path) -> str:
        """Download ``url`` to ``dest`` (timeout, retries on network and 5xx errors); its sha256."""
        request = urllib.request.Request(url, headers={"User-Agent": "streamflow-dev"})
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.log(f"{url}: {problem}; retry {attempt}/{self.retries}")
                time.sleep(self.retry_delay * attempt)
            try:
                with (
                    urllib.request.urlopen(request, timeout=self.timeout, context=self.ssl_context) as resp,
                    dest.open("wb") as out,
                ):
                    digest = hashlib.sha256()
                    while chunk := resp.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                    return digest.hexdigest()
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code < 500 and exc.code != 429:
                    break
            except urllib.error.URLError as exc:
                problem = f"{type(exc.reason).__name__}: {exc.reason}"
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            dest.unlink()
        raise _Unreachable(f"{url}: {problem}")


def resolve(name: str) -> Path:
    """``Resolver().resolve(name)``: the verified file of a :data:`TABLE` entry."""
    return Resolver().resolve(name)
