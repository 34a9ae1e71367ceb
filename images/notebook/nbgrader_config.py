"""nbgrader settings for every coursehub server, read from the spawn plan's environment."""

import os

from nbgrader.auth import JupyterHubAuthPlugin

c = get_config()  # noqa: F821 - injected by traitlets when nbgrader loads this file

# Membership comes from the hub groups nbgrader-{course} / formgrade-{course}.
c.Authenticator.plugin_class = JupyterHubAuthPlugin
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE_ROOT", "/srv/nbgrader/exchange")
# Several courses share one exchange root: each course has its own subfolder.
c.Exchange.path_includes_course = True

course = os.environ.get("NBGRADER_COURSE_ID")
if course:
    c.CourseDirectory.course_id = course
root = os.environ.get("NBGRADER_COURSE_ROOT")
if root:
    c.CourseDirectory.root = root
    # The course directory is shared by the grader and the course's instructors through
    # the course group, so nbgrader must create files group-writable.
    c.CourseDirectory.groupshared = True
db_url = os.environ.get("NBGRADER_DB_URL")
if db_url:
    c.CourseDirectory.db_url = db_url
