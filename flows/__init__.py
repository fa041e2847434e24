"""mediamon's Prefect flows: thin wrappers that give each step of `mediamon.runs` a task, a retry policy and an
artifact. `prefect.yaml` deploys them; `mediamon ingest` and `mediamon digest` run them directly."""
