"""pytester tests of the plugin: one file per option or marker."""
