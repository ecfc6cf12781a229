"""What decoding outside bytes can raise.

msgspec raises DecodeError or ValidationError for bad input, but also
UnicodeDecodeError for invalid UTF-8 inside a string and RecursionError for
very deep nesting (found by tests/fuzz). Every place that decodes bytes from a
strategy or a venue catches this tuple, so hostile input is one clear error."""
import msgspec

DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)
