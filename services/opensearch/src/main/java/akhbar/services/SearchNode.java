package akhbar.services;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Single OpenSearch node assembled from Maven artifacts instead of the tarball distribution.
 *
 * The stock distribution loads plugins from its modules/ folder; here the modules the test
 * suite needs (HTTP over Netty, the language analyzers such as "arabic", reindex and
 * by-query APIs, painless, extra field types) are on the classpath, so they are handed to
 * the node directly.
 *
 * Usage: SearchNode HOME   where HOME/config/opensearch.yml and HOME/config/log4j2.properties exist.
 */
public final class SearchNode extends Node {

    private static final Collection<Class<? extends Plugin>> PLUGINS = List.of(
        Netty4Plugin.class,
        CommonAnalysisPlugin.class,
        ReindexPlugin.class,
        PainlessPlugin.class,
        MapperExtrasPlugin.class
    );

    private SearchNode(Environment environment) {
        // true: same as a normal node, private index settings are rejected
        super(environment, PLUGINS, true);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: SearchNode <path.home>");
            System.exit(2);
        }
        Path home = Paths.get(args[0]).toAbsolutePath();
        Settings input = Settings.builder().put(Environment.PATH_HOME_SETTING.getKey(), home.toString()).build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            input,
            Collections.emptyMap(),
            home.resolve("config"),
            () -> "akhbar-test"
        );
        // Same order as the stock bootstrap: the %node_name log pattern needs the name before
        // log4j is configured from HOME/config/log4j2.properties.
        LogConfigurator.registerErrorListener();
        if (Node.NODE_NAME_SETTING.exists(environment.settings())) {
            LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(environment.settings()));
        }
        LogConfigurator.configure(environment);

        CountDownLatch stopped = new CountDownLatch(1);
        SearchNode node = new SearchNode(environment);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "akhbar-opensearch-shutdown"));

        node.start();
        // Node threads are daemons; keep the JVM alive until SIGTERM runs the hook above.
        stopped.await();
    }
}
