"""mediamon: scheduled monitoring of Chinese- and English-language coverage of AI, chips and valuations."""

__version__ = "0.1.0"
