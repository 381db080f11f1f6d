"""Health of a taskagent home seen from outside the scheduler: `taskagent doctor`'s checks,
the watchdog that notifies about them, and the heartbeat ping out of the machine."""
