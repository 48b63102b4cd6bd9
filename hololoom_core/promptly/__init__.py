"""Answer quality machinery: the ultraprompt structure, the judge, loops and experiments."""
