FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml ./
RUN pip install --no-cache-dir --upgrade pip
COPY . .
RUN pip install --no-cache-dir -e .
RUN useradd --create-home healthaid && mkdir -p /data/media /data/static && chown -R healthaid /data
USER healthaid
EXPOSE 8000
