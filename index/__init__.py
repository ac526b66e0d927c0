"""Hash lists and the match index: the durable list store, the in-memory search structures and the list
file formats. Knows nothing of HTTP; reads hashes produced by `matcher`, never media.
"""
