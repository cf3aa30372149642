"""Running the grader where students submit: a Gradescope autograder bundle.

`grader gradescope build` writes the zip Gradescope builds its image from (`bundle.py`, with
`setup.sh` and `run_autograder` from `templates/`); inside that image, `run_autograder` calls
`grader gradescope run`, which grades one submission and always leaves a results.json
(`runner.py`). `config.py` is what the two sides agree on; `metadata.py` reads what Gradescope
says about the submission. docs/gradescope.md is the guide for course staff.
"""
