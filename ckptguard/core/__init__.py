"""The pure core: values, names, layouts and the decisions about them. No I/O, no clock."""
