"""The onboarding questionnaire app (`paso-local onboard`)."""

from paso_local.tui.onboarding.app import OnboardingApp, run_onboarding

__all__ = ["OnboardingApp", "run_onboarding"]
