// Kafka's topic-name rules, pure so both the broker's topic state and the controller use one copy.

/** Kafka's Topic.validate: the error sentence for an illegal name, or undefined when legal. */
export function invalidTopicName(name: string): string | undefined {
  if (name.length === 0) return "Topic name is illegal, it can't be empty";
  if (name === "." || name === "..") return 'Topic name cannot be "." or ".."';
  if (name.length > 249) {
    return `Topic name is illegal, it can't be longer than 249 characters, topic name: ${name}`;
  }
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) {
    return `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`;
  }
  return undefined;
}

/** Kafka's Topic.unifyCollisionChars: '.' and '_' collide in metric names. */
export function collisionKey(name: string): string {
  return name.replace(/\./g, "_");
}
