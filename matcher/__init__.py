"""The hashing core: safe decoding of untrusted media, the hash kinds (PDQ, pHash family, MD5/SHA-256)
and the Hamming-distance core. Pure functions over bytes and arrays: it knows nothing of HTTP, files
on disk, lists or storage, and it never keeps or logs media.
"""
