# scry never harms the program: its descriptors, exit status and files.
