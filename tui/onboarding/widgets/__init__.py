"""The onboarding app's custom widgets, one per module."""
