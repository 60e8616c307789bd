"""Blob storage and the ways bytes reach it: streamed request bodies, resumable uploads, form uploads."""
