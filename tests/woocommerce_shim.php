<?php
/**
 * The WordPress and WooCommerce functions the generated plugin calls, for the tests: a stand-in,
 * ours, not WordPress. Each does what WordPress's documentation says, for the one page the test
 * asks for ($GLOBALS['klaviyo_test'], decoded from the JSON file named in argv[1]):
 *
 *   page        the conditional tags that are true: product, product_category, checkout,
 *               order_received, search
 *   queried_id  get_queried_object_id()
 *   user        the logged-in WP_User's fields, or null (logged out)
 *   store       route => the Store API's JSON for it (rest_do_request); a missing route is a 404
 *   session     WC()->session's values (klaviyo_snippets_added)
 *   search      [terms, found_posts]
 *   add_to_cart the arguments of WC_Cart::add_to_cart's woocommerce_add_to_cart action, run
 *               before the page (as a form post's add runs on wp_loaded); ajax: true makes it
 *               a wc-ajax request (wp_doing_ajax(), DOING_AJAX)
 *   options     get_option()'s values (woocommerce_cart_redirect_after_add); others false
 *   content     the page's body (HTML)
 *
 * The page is printed as a theme prints it: wp_head() in <head>, wp_footer() before </body>.
 * wp_head runs the wp_head actions by priority; enqueued scripts are printed at priority 9, as
 * WordPress 6.3+ prints them (src?ver=, id="HANDLE-js", defer/async with data-wp-strategy),
 * dependencies first. jQuery is WordPress's own handle, at /wp-includes/js/jquery/jquery.min.js.
 */

define( 'ABSPATH', __DIR__ . '/' );
define( 'SITE', 'https://shop.test' );
$GLOBALS['klaviyo_test'] = json_decode( file_get_contents( $argv[1] ), true );
$GLOBALS['actions']      = array();
$GLOBALS['scripts']      = array( 'jquery' => array( 'src' => SITE . '/wp-includes/js/jquery/jquery.min.js', 'deps' => array(), 'ver' => '3.7.1', 'args' => array() ) );
$GLOBALS['queue']        = array();

function t( $key ) { return $GLOBALS['klaviyo_test'][ $key ] ?? null; }
function is_page_a( $what ) { return in_array( $what, t( 'page' ) ?? array(), true ); }

function add_action( $hook, $callback, $priority = 10, $args = 1 ) {
	$GLOBALS['actions'][ $hook ][] = array( $priority, count( $GLOBALS['actions'][ $hook ] ?? array() ), $callback, $args );
	return true;
}
function do_action( $hook, ...$args ) {
	$list = $GLOBALS['actions'][ $hook ] ?? array();
	usort( $list, function ( $a, $b ) { return array( $a[0], $a[1] ) <=> array( $b[0], $b[1] ); } );
	foreach ( $list as $entry ) {
		$entry[2]( ...array_slice( $args, 0, $entry[3] ) );
	}
}
function plugins_url( $path, $file ) { return SITE . '/wp-content/plugins/' . basename( dirname( $file ) ) . '/' . ltrim( $path, '/' ); }
function rest_url( $path ) { return SITE . '/wp-json/' . ltrim( $path, '/' ); }
function wp_enqueue_script( $handle, $src = '', $deps = array(), $ver = false, $args = array() ) {
	$GLOBALS['scripts'][ $handle ] = compact( 'src', 'deps', 'ver', 'args' );
	$GLOBALS['queue'][]            = $handle;
}
function esc_url( $url ) { return htmlspecialchars( $url, ENT_QUOTES ); }
function print_script( $handle, &$done ) {
	if ( isset( $done[ $handle ] ) ) { return; }
	$done[ $handle ] = true;
	$script          = $GLOBALS['scripts'][ $handle ];
	foreach ( $script['deps'] as $dep ) { print_script( $dep, $done ); }
	$ver      = false === $script['ver'] ? '6.9' : $script['ver'];
	$src      = null === $ver ? $script['src'] : $script['src'] . '?ver=' . $ver;
	$strategy = is_array( $script['args'] ) ? ( $script['args']['strategy'] ?? '' ) : '';
	$extra    = $strategy ? " {$strategy} data-wp-strategy=\"{$strategy}\"" : '';
	echo '<script src="' . esc_url( $src ) . '" id="' . $handle . '-js"' . $extra . "></script>\n";
}
add_action( 'wp_head', function () { do_action( 'wp_enqueue_scripts' ); }, 1 );
add_action( 'wp_head', function () { $done = array(); foreach ( $GLOBALS['queue'] as $h ) { print_script( $h, $done ); } }, 9 );
function wp_head() { do_action( 'wp_head' ); }
function wp_footer() { do_action( 'wp_footer' ); }
function wp_json_encode( $value, $flags = 0, $depth = 512 ) { return json_encode( $value, $flags, $depth ); }
function wp_doing_ajax() { return (bool) t( 'ajax' ); }
function get_option( $name, $default = false ) { return t( 'options' )[ $name ] ?? $default; }

function is_user_logged_in() { return null !== t( 'user' ); }
function wp_get_current_user() { return (object) ( t( 'user' ) ?? array( 'ID' => 0 ) ); }
function is_search() { return is_page_a( 'search' ); }
function get_search_query( $escaped = true ) { $terms = t( 'search' )[0] ?? ''; return $escaped ? htmlspecialchars( $terms, ENT_QUOTES ) : $terms; }
function is_product() { return is_page_a( 'product' ); }
function is_product_category() { return is_page_a( 'product_category' ); }
function is_checkout() { return is_page_a( 'checkout' ) || is_page_a( 'order_received' ); }
function is_wc_endpoint_url( $endpoint ) { return 'order-received' === $endpoint && is_page_a( 'order_received' ); }
function get_queried_object_id() { return t( 'queried_id' ) ?? 0; }

class WP_Query_Stub { public $found_posts; function __construct( $n ) { $this->found_posts = $n; } }
$GLOBALS['wp_query'] = new WP_Query_Stub( t( 'search' )[1] ?? 0 );

class WP_REST_Request { public $method; public $route; function __construct( $method, $route ) { $this->method = $method; $this->route = $route; } }
class WP_REST_Response_Stub {
	private $data; private $status;
	function __construct( $data, $status ) { $this->data = $data; $this->status = $status; }
	function is_error() { return $this->status >= 400; }
	function get_data() { return $this->data; }
}
function rest_do_request( $request ) {
	$GLOBALS['rest_requests'][] = $request->method . ' ' . $request->route;
	$store = t( 'store' ) ?? array();
	return array_key_exists( $request->route, $store ) ? new WP_REST_Response_Stub( $store[ $request->route ], 200 )
		: new WP_REST_Response_Stub( array( 'code' => 'rest_no_route' ), 404 );
}

class WC_Session_Stub {
	public $data;
	function __construct( $data ) { $this->data = $data; }
	function get( $key, $default = null ) { return $this->data[ $key ] ?? $default; }
	function set( $key, $value ) { $this->data[ $key ] = $value; }
}
class WooCommerce_Stub { public $session; function __construct() { $this->session = new WC_Session_Stub( t( 'session' ) ?? array() ); } }
$GLOBALS['woocommerce'] = new WooCommerce_Stub();
function WC() { return $GLOBALS['woocommerce']; }

require $argv[2];   // the generated plugin
if ( t( 'add_to_cart' ) ) {
	do_action( 'woocommerce_add_to_cart', ...t( 'add_to_cart' ) );
}
?>
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>WooCommerce</title>
<?php wp_head(); ?>
</head>
<body>
<?php echo t( 'content' ) ?? ''; ?>
<?php wp_footer(); ?>
<!-- session after: <?php echo json_encode( WC()->session->data ); ?> -->
</body>
</html>
