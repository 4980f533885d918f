"""The qnms orchestrator: the SDN controller of the multiplane architecture.

It serves the ``qnms-service`` model northbound over NETCONF and provisions service
units (seed 5.3, establishment steps 0-5 of seed 5.4) by talking NETCONF to the
agents southbound: discovery, admission, path computation, a network-wide transaction
per allocation, the service-unit lifecycle, and a persistent store. It never talks to
the twin or imports agent code: agents are devices, reached over the network only.
"""
