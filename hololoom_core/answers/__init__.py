"""The vocabulary of the answer path, below `config`, `llm` and `engine`.

The ultraprompt format (sections, spec, loop DSL), the heuristic judge and the types that cross
the answer path (`AnswerContext`, `Configuration`, `LoopResult`, the `Retriever`, `Judge`, `Router`
and `QualityPredictor` protocols) live here so that language providers, the engine and every
capability can share them without importing each other.
"""
