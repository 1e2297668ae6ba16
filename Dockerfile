# Build: compile TypeScript with the dev dependencies.
# Node 22 LTS (Node 20 is past end of life); `engines` in package.json lists what is tested.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
COPY demo ./demo
RUN npm run build

# Runtime: production dependencies and the compiled output only, as a non-root user.
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
# Every interface: a container is reached through its published ports (the gateway alone
# would listen on loopback while basic auth is off; set ALERT_SCALER_BASIC_AUTH_* in production).
ENV ALERT_SCALER_HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The example stack, so the image also runs the embedded default (`docker run -p 8080:8080`).
COPY examples ./examples
# The numeric uid of the image's `node` user, so runAsNonRoot can verify it.
USER 1000:1000
# The function listener and the admin listener (/system/*, /ui/).
EXPOSE 8080 8081
# The V8 flags of src/bootstrap/node-flags.ts (why: there), as `npm start` passes them.
CMD ["node", "--initial-old-space-size=64", "dist/src/main.js"]
