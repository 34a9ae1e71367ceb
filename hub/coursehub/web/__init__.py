"""Hub pages and API handlers of coursehub: where a launch opens its course server, and the
provisioning endpoint of the CLI."""
