"""Several hosts on one Linux machine, for real: ``occupancy stack up`` / ``occupancy stack down``.

As root, each host of docker-compose.yml gets a network namespace of its own, joined by veth pairs
to one bridge: two app hosts (``occupancy serve``), nginx with deploy/nginx.conf, a Redis Cluster,
PostgreSQL, and Prometheus with deploy/prometheus.yml. Hosts find each other by the names the
compose file uses (each namespace's /etc/hosts), so both run the same config files unchanged.
"""
