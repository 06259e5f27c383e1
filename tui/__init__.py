"""Textual terminal apps of paso-local: the onboarding questionnaire and the chat."""
