{
  "key_id": "hololoom-default",
  "signature": "NUKuFFlRL8QyTePORWImGSO1b/Rb5kdKwOrSCAjySmNWg2hbQkpyyPQXvivZf3t26IHQWC+/IgzRSx9xCqvqBw=="
}
