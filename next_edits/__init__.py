"""Next-edit suggestions: from the edit a user just made to a document, the edits that follow
from it elsewhere in the document (docs/NEXT_EDITS.md). Pure: texts in, suggestions out."""
