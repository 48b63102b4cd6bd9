"""Language providers: the offline answer engine (default) and, later, Ollama."""
