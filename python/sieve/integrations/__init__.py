"""sieve inside other frameworks.

    import sieve.integrations.transformers   # registers attn_implementation="sieve"

Each submodule imports its framework; `import sieve` imports none of them.
"""
