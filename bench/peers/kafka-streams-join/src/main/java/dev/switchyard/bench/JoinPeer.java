package dev.switchyard.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import java.io.UncheckedIOException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;

/**
 * The Kafka Streams peer of the event-pipeline benchmark: predictions joined with their
 * feedback by requestId (the record key) in a stream-stream join, exactly-once v2, one
 * stream thread. Each side is parsed as JSON and the joined event written as the
 * prediction plus the feedback's label and time, as a team writing its own join would.
 * No validation, no statistics stage.
 *
 * Env: KAFKA_BROKERS, APPLICATION_ID, PREDICTIONS_TOPIC, FEEDBACK_TOPIC, OUTPUT_TOPIC,
 * STATE_DIR, PORT (GET /readyz answers 200 once the Streams client is RUNNING).
 */
public final class JoinPeer {
  private static final ObjectMapper JSON = new ObjectMapper();

  private JoinPeer() {}

  public static void main(String[] args) throws Exception {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, env("APPLICATION_ID"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, env("KAFKA_BROKERS"));
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    props.put(StreamsConfig.STATE_DIR_CONFIG, env("STATE_DIR"));
    props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

    StreamsBuilder builder = new StreamsBuilder();
    KStream<String, String> predictions = builder.stream(env("PREDICTIONS_TOPIC"));
    KStream<String, String> feedback = builder.stream(env("FEEDBACK_TOPIC"));
    // Feedback may come up to 10 minutes after its prediction (or, on another partition's clock, before it).
    predictions
        .join(feedback, JoinPeer::joined, JoinWindows.ofTimeDifferenceAndGrace(Duration.ofMinutes(10), Duration.ofMinutes(1)))
        .to(env("OUTPUT_TOPIC"));

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(env("PORT"))), 0);
    http.createContext("/readyz", exchange -> {
      exchange.sendResponseHeaders(streams.state() == KafkaStreams.State.RUNNING ? 200 : 503, -1);
      exchange.close();
    });
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(10));
      http.stop(0);
      stopped.countDown();
    }));
    http.start();
    streams.start();
    stopped.await();
  }

  static String joined(String prediction, String feedback) {
    try {
      ObjectNode event = (ObjectNode) JSON.readTree(prediction);
      JsonNode answer = JSON.readTree(feedback);
      event.put("type", "joined");
      event.set("label", answer.get("label"));
      event.set("feedbackAt", answer.get("occurredAt"));
      return JSON.writeValueAsString(event);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String env(String name) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) throw new IllegalArgumentException(name + " is not set");
    return value;
  }
}
