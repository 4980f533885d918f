"""The operator console (issue 15): a web page over the northbound, live through YANG-Push.

``server`` serves the page and a JSON API; ``sessions`` logs users in with their own
NETCONF credentials; ``feed`` keeps each user's picture through RFC 8641 subscriptions
(``replica`` applies the pushes); ``actions`` checks and sends what the forms ask for.
"""
