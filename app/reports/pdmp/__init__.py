"""A pharmacy's reports to its state's prescription drug monitoring program (PDMP): the ASAP
file of a day (:mod:`asap`, from what :mod:`day` reads) and the files kept as submissions
(:mod:`models`)."""
