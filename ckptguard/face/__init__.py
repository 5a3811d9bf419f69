"""What people and scripts touch: the command line, configuration, rendering, logs."""
