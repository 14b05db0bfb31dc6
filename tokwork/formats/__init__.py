"""One module per tokenizer file format, each a `tokwork.Tokenizer` subclass."""
