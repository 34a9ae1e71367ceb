"""coursehub's state: its tables in the hub database and the folders of the data volume."""
