"""Turns a trace into a program for one target: tiling, scheduling, instruction streams."""
