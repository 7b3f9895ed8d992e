# Redis for the container fault tests (Testcontainers.Redis), built from Debian's redis-server package, so the tests
# need no registry: `bash tests/infra/test-images.sh` builds it as dialoguedb.local/redis:7.0.
ARG BASE=dialoguedb.local/debian:bookworm-minbase
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
EXPOSE 6379
# As the official image: arguments that start with '-' are redis-server options.
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
