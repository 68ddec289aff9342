"""Options: the registry of every option (`registry`), parsing and validation into
`RestOptions` (`parse`), and the generated reference tables of docs/options.md (`docs`)."""
