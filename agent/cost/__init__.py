"""Cost per request from measured hardware use.

Each collector tick meters what the devices cost (device-seconds x price, plus energy
where the hourly price does not include it); the engine shares that among the requests
active in the interval, in proportion to their prefill and decode work, and reports the
rest as idle cost. `build_cost_stage` (in `wiring`) makes its stage of the record path.
"""
