"""Training the code model served as ``code_fim`` (issue 4); its evaluation is ``evaluation/``.

These commands need the training tools (``requirements-train.txt``: PyTorch, ``tokenizers``,
``tqdm``); serving needs none of them. Their outputs are committed under
``model/repository/code_fim/1/`` so that setup never retrains.
"""
