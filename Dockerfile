# Both binaries in one small image: `docker run IMAGE proxy …` or
# `docker run IMAGE origin …`. The origin needs cgo (mattn/go-sqlite3).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/origin ./origin && \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/proxy ./proxy

FROM debian:bookworm-slim
# A fixed non-root user; /data (the SQLite volume) belongs to it.
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin edgeshop && \
    mkdir /data && chown edgeshop /data
COPY --from=build /out/origin /out/proxy /usr/local/bin/
USER edgeshop
WORKDIR /data
