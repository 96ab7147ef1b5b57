"""fraud_models: features shared by training and the stream, training, evaluation and the compiled scorer."""
