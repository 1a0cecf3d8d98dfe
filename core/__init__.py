"""The shared kernel every app builds on: spreadsheets in and out, import jobs, the one domain
error, role scoping, the outbox by which a lower app causes work in a higher one, and the
demo loader. It imports no other app of the project."""
