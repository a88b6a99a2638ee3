"""Design-space exploration as pure functions over specs and summaries.

`sweep` expands ``--set FIELD=V1,V2`` axes into run specs (catalogue names, serving fields and
hardware fields such as ``chip.mac_trees``); `search` bisects a point's arrival rate for the
highest one that meets an SLO (goodput, as DistServe and Vidur-Search define it); `pareto`
marks the points no other point beats on every objective. Executing the points (local
processes, or cluster replicas through the controller) belongs to the outer layer.
"""
