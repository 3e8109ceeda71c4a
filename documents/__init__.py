"""Documents as the editor has them: text and edits, languages, secret masking, and the other
open files a prompt draws on (pure)."""
