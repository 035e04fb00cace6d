"""Readers and writers: image and label-map files, segmentation files, point lists, label names, JSON and
atomic writes, and the geometry (affines, RAS and LPS) they share. Nothing here knows about lesions or bones."""
