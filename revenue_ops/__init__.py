"""A downstream consumer of c2c business events: revenue operations counting payments per currency."""
