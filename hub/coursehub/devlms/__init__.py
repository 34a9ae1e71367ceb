"""The strict emulated LMS (the development platform), mounted only with ``lti13.dev_platform``,
and the launch builder the tests and ``coursehub launch`` use to play the LMS.

Real LMSs accept sloppy requests; this one checks everything the specs require of a tool, so
a test that passes here passes against Moodle and Canvas. Its state (registered clients, used
token ids) lives in tables of its own in the hub database, so it survives hub restarts.
"""
