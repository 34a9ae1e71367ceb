"""The LMS side: LTI 1.1 and 1.3 launches (authenticator, handlers, checks), the tool's keys,
platform JWKS, the development platform, and what the LMS admin pastes into the LMS."""
