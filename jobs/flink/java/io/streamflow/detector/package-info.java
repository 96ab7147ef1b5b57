/**
 * The detector's per-event work on the JVM: parsing, keyed state, features and rules.
 *
 * <p>Each class mirrors one Python definition and is proven equal to it by a test in
 * {@code tests/jobs/flink/jvm/}: features ({@code fraud_models.features}), rules and their reasons
 * ({@code fraud_jobs.rules}), the record parser ({@code fraud_jobs.schemas}).
 */
package io.streamflow.detector;
