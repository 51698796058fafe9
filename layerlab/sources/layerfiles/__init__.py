"""A layer's files, wherever they are stored: the rows of the files frame and the one whiteout
translation (rows), a directory walk (walk, with the C walker _fastwalk.c), tar-split metadata
(tarsplit) and tar headers (tarheader)."""
