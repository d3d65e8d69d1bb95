"""Command-line clients of the HTTP API (`openbook push`)."""
