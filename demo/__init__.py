"""The demo: real DL19 fixtures, demo accounts and one pass through every app.

It sits above every app (``.importlinter``): it imports the apps' services directly,
which no app may do with another app above it.
"""
